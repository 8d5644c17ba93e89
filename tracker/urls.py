from django.urls import path

from tracker import views

urlpatterns = [
    path("announce", views.announce, name="announce"),
    path("announce/<str:passkey>", views.announce, name="announce-passkey"),
    path("scrape", views.scrape, name="scrape"),
    path("scrape/<str:passkey>", views.scrape, name="scrape-passkey"),
    path("admitted/<str:credential>", views.admitted, name="admitted"),
]

from django.urls import path

from tracker import views

urlpatterns = [
    path("announce", views.announce, name="announce"),
    path("scrape", views.scrape, name="scrape"),
]

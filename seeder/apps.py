from django.apps import AppConfig


class SeederConfig(AppConfig):
    name = "seeder"

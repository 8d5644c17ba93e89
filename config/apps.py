from django.apps import AppConfig


class ProjectConfig(AppConfig):
    """The project package as an app, for what belongs to no app: the checks of the settings."""

    name = "config"
    verbose_name = "Fanout settings"

    def ready(self) -> None:
        from config import checks  # noqa: F401  (registers them)

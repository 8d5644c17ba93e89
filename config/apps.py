from django.apps import AppConfig


class ProjectConfig(AppConfig):
    """The project package as an app, for what belongs to no app: the checks of the settings."""

    name = "config"
    verbose_name = "Fanout settings"

    def ready(self) -> None:
        from config import checks  # noqa: F401  (registers them)
        from config.data_dir import share_data_dir

        # Every process sets Django up before it writes there: a deployment that never runs
        # prepare_data_dir (docker-compose) gets its data directory shared as the first one starts.
        share_data_dir()

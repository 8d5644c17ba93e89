from django.apps import AppConfig
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed


class DistributionConfig(AppConfig):
    name = "distribution"

    def ready(self) -> None:
        from distribution import audit

        user_logged_in.connect(audit.record_sign_in, dispatch_uid="audit-sign-in")
        user_login_failed.connect(audit.record_sign_in_failure, dispatch_uid="audit-sign-in-failure")
        user_logged_out.connect(audit.record_sign_out, dispatch_uid="audit-sign-out")

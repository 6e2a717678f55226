from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "registry"
    verbose_name = "Registry"

    def ready(self) -> None:
        from registry.api import schema  # noqa: F401 - registers the OpenAPI auth extension
        from registry.models.events import event_recorded
        from registry.services import notifications, webhooks

        event_recorded.connect(webhooks.on_event, dispatch_uid="webhooks")
        event_recorded.connect(notifications.on_event, dispatch_uid="notifications")

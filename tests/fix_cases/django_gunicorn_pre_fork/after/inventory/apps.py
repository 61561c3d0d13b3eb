from django.apps import AppConfig


class InventoryConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "inventory"

    def ready(self):
        from inventory.models import Warehouse

        if not Warehouse.objects.filter(active=True).exists():
            raise RuntimeError("no active warehouse")

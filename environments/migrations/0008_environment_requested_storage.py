from django.db import migrations, models

MIB = 1024 * 1024
_UNITS = {
    "Ki": 1024,
    "Mi": MIB,
    "Gi": 1024 * MIB,
    "Ti": 1024**2 * MIB,
    "k": 1000,
    "M": 1000**2,
    "G": 1000**3,
    "T": 1000**4,
}


def _bytes(text: str) -> int:
    for suffix in sorted(_UNITS, key=len, reverse=True):
        if text.endswith(suffix):
            return int(float(text[: -len(suffix)]) * _UNITS[suffix])
    return int(float(text))


def fill_storage(apps, schema_editor):
    """Existing environments get the claims of the services they run themselves (overlays: local ones)."""
    Environment = apps.get_model("environments", "Environment")
    for env in Environment.objects.exclude(state="deleted").iterator():
        plan = env.difference_plan or {}
        services = (plan.get("effective_spec") or env.spec or {}).get("services") or []
        local = set(plan["local"]) if plan.get("local") is not None else None
        total = 0
        for service in services:
            if service.get("removed") or (local is not None and service.get("name") not in local):
                continue
            for volume in service.get("volumes") or []:
                if volume.get("type") == "pvc" and volume.get("size"):
                    try:
                        total += _bytes(volume["size"])
                    except ValueError:
                        continue
        env.requested_storage_mib = total // MIB
        env.save(update_fields=["requested_storage_mib"])


class Migration(migrations.Migration):
    dependencies = [
        ("environments", "0007_fleet_policies_cost_drift"),
    ]

    operations = [
        migrations.AddField(
            model_name="environment",
            name="requested_storage_mib",
            field=models.PositiveIntegerField(
                default=0, help_text="Sum of the volume claims it runs itself, for cost estimates"
            ),
        ),
        migrations.RunPython(fill_storage, migrations.RunPython.noop),
    ]

"""The default descriptors say which finding type they describe (a mass has no calcification
morphology): projects created before keep their schema, with "finding_types" added to those
three attributes when they have none."""

from django.db import migrations

DESCRIBES = {
    "mass_shape": ["mass"],
    "mass_margin": ["mass"],
    "calcification_morphology": ["calcification"],
}


def add_finding_types(apps, schema_editor):
    Project = apps.get_model("projects", "Project")
    for project in Project.objects.all():
        schema = project.label_schema or {}
        attributes = schema.get("attributes") or {}
        types = set(schema.get("finding_types") or [])
        changed = False
        for name, describes in DESCRIBES.items():
            spec = attributes.get(name)
            if isinstance(spec, dict) and "finding_types" not in spec and set(describes) <= types:
                spec["finding_types"] = describes
                changed = True
        if changed:
            project.save(update_fields=["label_schema"])


class Migration(migrations.Migration):
    dependencies = [("projects", "0002_project_hide_reference")]

    operations = [migrations.RunPython(add_finding_types, migrations.RunPython.noop)]

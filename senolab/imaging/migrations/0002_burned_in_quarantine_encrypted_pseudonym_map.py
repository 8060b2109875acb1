"""Burned-in text quarantine on Image; the pseudonym map and project secrets encrypted at rest.

Existing images flagged burned-in are quarantined. Each project's secret is encrypted with the
pseudonym key from settings (unchanged in value, so pseudonyms and remapped UIDs stay the same);
each map entry gets its lookup digest and its original identifiers encrypted.
"""

import hashlib
import hmac

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from senolab.imaging.pseudonym_key import decrypt, encrypt


def quarantine_burned_in(apps, schema_editor):
    Image = apps.get_model("imaging", "Image")
    Image.objects.filter(burned_in_annotation=True).update(
        pixel_status="quarantined",
        pixel_status_reason="flagged burned-in before the quarantine existed",
    )


def encrypt_map(apps, schema_editor):
    Key = apps.get_model("imaging", "DeidentificationKey")
    Entry = apps.get_model("imaging", "PseudonymEntry")
    secrets_by_project = {}
    for key in Key.objects.all():
        secrets_by_project[key.project_id] = key.secret.encode()
        key.secret = encrypt(key.secret)
        key.save(update_fields=["secret"])
    for entry in Entry.objects.all():
        secret = secrets_by_project[entry.project_id]
        original = entry.original_patient_id.strip()
        entry.original_id_digest = hmac.new(
            secret, f"map:{original}".encode(), hashlib.sha256
        ).hexdigest()
        entry.original_patient_id_encrypted = encrypt(entry.original_patient_id)
        entry.original_patient_name_encrypted = (
            encrypt(entry.original_patient_name) if entry.original_patient_name else ""
        )
        entry.save()


def decrypt_map(apps, schema_editor):
    Key = apps.get_model("imaging", "DeidentificationKey")
    Entry = apps.get_model("imaging", "PseudonymEntry")
    for key in Key.objects.all():
        key.secret = decrypt(key.secret)
        key.save(update_fields=["secret"])
    for entry in Entry.objects.all():
        entry.original_patient_id = decrypt(entry.original_patient_id_encrypted)
        entry.original_patient_name = decrypt(entry.original_patient_name_encrypted)
        entry.save()


class Migration(migrations.Migration):
    dependencies = [
        ("imaging", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="image",
            name="pixel_status",
            field=models.CharField(
                choices=[
                    ("clean", "Clean"),
                    ("quarantined", "Quarantined: may carry burned-in text"),
                    ("cleaned", "Cleaned by masking configured regions"),
                    ("reviewed_clean", "Reviewed: no identifying text"),
                ],
                db_index=True,
                default="clean",
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="image",
            name="pixel_status_reason",
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.AddField(
            model_name="image",
            name="pixel_reviewed_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="image",
            name="pixel_reviewed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="image",
            name="unmasked_storage_key",
            field=models.CharField(blank=True, max_length=255),
        ),
        migrations.RunPython(quarantine_burned_in, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="deidentificationkey",
            name="secret",
            field=models.TextField(help_text="Fernet token under SENOLAB_PSEUDONYM_KEY"),
        ),
        migrations.RemoveConstraint(model_name="pseudonymentry", name="unique_pseudonym_source"),
        migrations.AddField(
            model_name="pseudonymentry",
            name="original_id_digest",
            field=models.CharField(
                default="",
                help_text="HMAC of the original patient id under the project's secret",
                max_length=64,
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="pseudonymentry",
            name="original_patient_id_encrypted",
            field=models.TextField(default=""),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="pseudonymentry",
            name="original_patient_name_encrypted",
            field=models.TextField(blank=True),
        ),
        migrations.AlterField(
            model_name="pseudonymentry",
            name="original_patient_id",
            field=models.CharField(default="", max_length=128),
        ),
        migrations.AlterField(
            model_name="pseudonymentry",
            name="original_patient_name",
            field=models.CharField(blank=True, default="", max_length=256),
        ),
        migrations.RunPython(encrypt_map, decrypt_map),
        migrations.RemoveField(model_name="pseudonymentry", name="original_patient_id"),
        migrations.RemoveField(model_name="pseudonymentry", name="original_patient_name"),
        migrations.AddConstraint(
            model_name="pseudonymentry",
            constraint=models.UniqueConstraint(
                fields=("project", "original_id_digest"), name="unique_pseudonym_source"
            ),
        ),
    ]

from django.apps import AppConfig


class DatasetsConfig(AppConfig):
    name = "datasets"
    label = "datasets"
    verbose_name = "Data sets: public-dataset importers and the synthetic demo"

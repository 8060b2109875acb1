from django.apps import AppConfig


class ImagingConfig(AppConfig):
    name = "senolab.imaging"
    label = "imaging"
    verbose_name = "Imaging: patients, exams, series, images, slides"

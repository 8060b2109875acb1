from django.apps import AppConfig


class ProjectsConfig(AppConfig):
    name = "senolab.projects"
    label = "projects"
    verbose_name = "Projects and members"

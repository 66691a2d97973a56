from django.urls import path

app_name = "portal_dev"
urlpatterns: list = []

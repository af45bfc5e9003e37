"""URL configuration: the same paths as helloworld.plain, plus the async variants."""

from __future__ import annotations

from django.urls import path

from helloworld import views

urlpatterns = [
    path("hello/", views.hello),
    path("sleep/", views.sleep),
    path("cpu/", views.cpu),
    path("payload/", views.payload),
    path("async/hello/", views.async_hello),
    path("async/sleep/", views.async_sleep),
    path("echo/", views.echo),
    path("echo/<path:rest>", views.echo),
]

# Plain-text error pages: cheaper than Django's HTML defaults and identical to the plain app's.
handler400 = views.bad_request
handler404 = views.not_found
handler500 = views.server_error

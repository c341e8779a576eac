"""Channel and contact-method pages (namespace ``notifications``)."""

from django.urls import path

from apps.notifications import views

app_name = "notifications"
_ORG = "o/<slug:organization_slug>/"
_CHANNEL = _ORG + "channels/<int:channel_id>/"
_METHOD = _ORG + "contact-methods/<int:channel_id>/"

urlpatterns = [
    path(_ORG + "channels/", views.ChannelsView.as_view(), name="channels"),
    path(_ORG + "channels/new/", views.ChannelCreateView.as_view(), name="channel-new"),
    path(_CHANNEL, views.ChannelView.as_view(), name="channel"),
    path(_CHANNEL + "edit/", views.ChannelEditView.as_view(), name="channel-edit"),
    path(_CHANNEL + "delete/", views.ChannelDeleteView.as_view(), name="channel-delete"),
    path(_CHANNEL + "test/", views.ChannelTestView.as_view(), name="channel-test"),
    path(_ORG + "contact-methods/", views.ContactMethodsView.as_view(), name="contact-methods"),
    path(_ORG + "contact-methods/new/", views.ContactMethodCreateView.as_view(), name="contact-method-new"),
    path(_METHOD + "edit/", views.ContactMethodEditView.as_view(), name="contact-method-edit"),
    path(_METHOD + "delete/", views.ContactMethodDeleteView.as_view(), name="contact-method-delete"),
    path(_METHOD + "test/", views.ContactMethodTestView.as_view(), name="contact-method-test"),
]

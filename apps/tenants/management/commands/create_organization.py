from __future__ import annotations

import getpass
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from apps.tenants import services


class Command(BaseCommand):
    help = (
        "Create an organization with an owner. The owner is an existing user, or a new one with "
        "--create-user (the password is asked for, or read from --password)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("name", help="Display name, e.g. 'Acme'.")
        parser.add_argument("--owner", required=True, help="Username of the owner.")
        parser.add_argument("--slug", help="Slug used in URLs (default: from the name).")
        parser.add_argument("--create-user", action="store_true", help="Create the owner user if missing.")
        parser.add_argument("--email", default="", help="Email of a user created with --create-user.")
        parser.add_argument("--password", help="Password of a user created with --create-user.")

    def handle(self, *args: Any, **options: Any) -> None:
        user_model = get_user_model()
        user = user_model.objects.filter(username=options["owner"]).first()
        if user is None:
            if not options["create_user"]:
                raise CommandError(f"No user '{options['owner']}'. Add --create-user to create one.")
            password = options["password"] or getpass.getpass(f"Password for {options['owner']}: ")
            user = user_model.objects.create_user(options["owner"], email=options["email"], password=password)
        if options["slug"] and services.organization_slug_taken(options["slug"]):
            raise CommandError(f"The slug '{options['slug']}' is taken; choose another with --slug.")
        organization = services.create_organization(options["name"], user, slug=options["slug"])
        self.stdout.write(self.style.SUCCESS(f"Created {organization.name} (/o/{organization.slug}/) owned by {user}"))

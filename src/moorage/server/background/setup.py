"""``heroku.yml``'s ``setup`` on an app's first deploy: its add-ons provisioned and its config
vars set before the first build is released, as ``heroku create --manifest`` does on Heroku.

"First deploy": no release of the app has carried images yet. Add-ons already attached under
the same name and config vars already set are left as they are (a user who prepared the app
by hand keeps what they chose), and every plan is checked before any is provisioned, so a
typo provisions nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from moorage.schemas.releases import Release as ReleaseView
from moorage.server.services import addons, apps, config, events, releases
from moorage.server.store.models import User
from moorage.spec.manifests import AppManifest

if TYPE_CHECKING:
    from moorage.server.platform import Platform

# (user, app name, manifest) -> the lines to show in the build's output
Setup = Callable[[User, str, AppManifest], list[str]]


def setup_with(platform: Platform) -> Setup:
    def setup(user: User, app_name: str, manifest: AppManifest) -> list[str]:
        if not manifest.setup_addons and not manifest.setup_config:
            return []
        lines: list[str] = []
        made: list[ReleaseView] = []
        with platform.store.session() as s:
            app = apps.get(s, user, app_name)  # authorized again, as the API would
            if any(r.images for r in app.releases):
                return []
            plans = [
                (plan, addons.resolve_service(plan, platform.providers), as_name)
                for plan, as_name in manifest.setup_addons
            ]
            attached = {a.name for a in addons.attachments_of(s, app)}
            for plan, provider, as_name in plans:
                name = addons.attachment_name(as_name or None, provider.attachment)
                if name in attached:
                    lines.append(f"{name}_URL is set already; {plan} not added")
                    continue
                addon, release = addons.create(s, app, user, plan, platform.providers, as_name=name)
                attached.add(name)
                made.append(releases.view(release, release.version))
                lines.append(f"Added {addon.plan} as {name} ({addon.name})")
            fresh = {k: v for k, v in manifest.setup_config.items() if k not in app.config}
            changed = config.update(s, app, user, dict(fresh))
            if changed is not None:
                made.append(releases.view(changed, changed.version))
                lines.append(f"Set {', '.join(sorted(fresh))} config vars")
        events.converge(platform)
        for r in made:
            events.announce(platform, r, user)
        return ["=== Setting up (heroku.yml setup, first deploy)", *lines] if lines else []

    return setup

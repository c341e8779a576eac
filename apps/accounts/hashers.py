from django.conf import settings
from django.contrib.auth.hashers import Argon2PasswordHasher


class TunedArgon2PasswordHasher(Argon2PasswordHasher):
    """Argon2id with costs from settings.

    Django's defaults take ≈0.2 s per hash on these 2 cores; the defaults here
    (t=2, m=19 MiB, p=1, OWASP's minimum for Argon2id) keep one login well
    under 100 ms (bench/bench_password_hash.py). Changing the costs rehashes
    each password at its next login.
    """

    @property
    def time_cost(self) -> int:  # type: ignore[override]
        return int(settings.VIGIL_ARGON2_TIME_COST)

    @property
    def memory_cost(self) -> int:  # type: ignore[override]
        return int(settings.VIGIL_ARGON2_MEMORY_COST_KIB)

    @property
    def parallelism(self) -> int:  # type: ignore[override]
        return int(settings.VIGIL_ARGON2_PARALLELISM)

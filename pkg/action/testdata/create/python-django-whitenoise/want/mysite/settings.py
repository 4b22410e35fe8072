from pathlib import Path
BASE_DIR = Path(__file__).resolve().parent.parent
MIDDLEWARE = ["whitenoise.middleware.WhiteNoiseMiddleware"]
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

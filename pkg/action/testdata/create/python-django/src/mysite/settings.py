SECRET_KEY = "dev"
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "mysite.urls"

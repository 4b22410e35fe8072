from flaskr import create_app
app = create_app()

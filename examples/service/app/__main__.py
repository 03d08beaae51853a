from app.logconfig import configure
from app.server import serve

configure()
serve()

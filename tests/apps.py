"""Applications used only by the tests."""

from wsgiref.validate import validator

from helloworld.plain import app as plain_app

# The plain app wrapped in wsgiref's validator: any PEP 3333 violation by the server (or the app)
# raises inside it, and the server then answers 500 instead of 200.
validated = validator(plain_app)

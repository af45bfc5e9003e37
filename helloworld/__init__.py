"""Hello-world applications (Django, plain WSGI, Flask, Pyramid) served by the home-made servers."""

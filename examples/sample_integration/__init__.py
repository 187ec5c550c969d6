"""A sample third-party integration of the App Market: landing page, OAuth2 client, API calls."""

"""Serving: recommendations with filters and explanations (recommend.py), the influencer index
(index.py), new brands from profile folders (profile.py), the REST API and web app (api.py, web/)."""

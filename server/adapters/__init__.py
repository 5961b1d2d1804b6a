"""Adapters: the outside world (mail providers, Salesforce) behind small interfaces."""

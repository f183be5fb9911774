"""API of the compliance app: viewsets registered on riskapp.api_router.router."""

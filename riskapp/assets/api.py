"""API of the assets app: viewsets registered on riskapp.api_router.router."""

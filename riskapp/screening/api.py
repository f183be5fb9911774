"""API of the screening app: viewsets registered on riskapp.api_router.router."""

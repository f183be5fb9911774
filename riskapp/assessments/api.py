"""API of the assessments app: viewsets registered on riskapp.api_router.router."""

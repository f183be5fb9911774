"""API of the monitoring app: viewsets registered on riskapp.api_router.router."""

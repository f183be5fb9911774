"""The API root, the OpenAPI schema and Swagger UI are served."""


def test_api_root_lists_resources(owner_api):
    response = owner_api.get("/api/v1/")
    assert response.status_code == 200
    assert "organizations" in response.json()


def test_openapi_schema_and_swagger_ui(client, owner):
    client.force_login(owner)
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"openapi" in schema.content
    assert client.get("/api/docs/").status_code == 200

//! S1: discovery documents state exactly what is implemented.

use crate::common::TestDirectory;

#[tokio::test]
async fn s1_service_provider_config_resource_types_and_schemas() {
    let t = TestDirectory::new("okta").await;
    let r = t.scim("GET", "/ServiceProviderConfig", None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/scim+json"));
    assert_eq!(r.body["patch"]["supported"], true);
    assert_eq!(r.body["bulk"]["supported"], true);
    assert_eq!(r.body["sort"]["supported"], false);
    assert_eq!(r.body["etag"]["supported"], true);
    assert_eq!(r.body["filter"]["supported"], true);
    assert_eq!(
        r.body["authenticationSchemes"][0]["type"],
        "oauthbearertoken"
    );

    let r = t.scim("GET", "/ResourceTypes", None).await;
    let names: Vec<&str> = r.body["Resources"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|rt| rt["name"].as_str())
        .collect();
    assert_eq!(names, ["User", "Group", "Role"]);
    let r = t.scim("GET", "/ResourceTypes/User", None).await;
    assert_eq!(
        r.body["schemaExtensions"][0]["schema"],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    );

    let r = t.scim("GET", "/Schemas", None).await;
    assert_eq!(r.body["totalResults"], 4);
    let r = t
        .scim(
            "GET",
            "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User",
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let attrs = r.body["attributes"].as_array().expect("attributes");
    let user_name = attrs
        .iter()
        .find(|a| a["name"] == "userName")
        .expect("userName");
    assert_eq!(user_name["uniqueness"], "server");
    assert_eq!(user_name["caseExact"], false);
    let password = attrs
        .iter()
        .find(|a| a["name"] == "password")
        .expect("password");
    assert_eq!(password["returned"], "never");
    t.scim("GET", "/Schemas/urn:nope", None)
        .await
        .assert_error(404, None);
    t.scim("GET", "/Nope", None).await.assert_error(404, None);
}

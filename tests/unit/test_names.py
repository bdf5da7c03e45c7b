import pytest

from moorage.errors import InvalidConfigKey, InvalidName
from moorage.spec.names import validate_app_name, validate_config_key, validate_process_type


@pytest.mark.parametrize("name", ["actors", "my-app-2", "abc", "a" * 30])
def test_valid_app_names(name: str) -> None:
    assert validate_app_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["ab", "a" * 31, "1app", "My-App", "app_1", "app-", "-app", "app.x", "ap p", "../etc", ""],
)
def test_invalid_app_names_say_the_rule(name: str) -> None:
    with pytest.raises(InvalidName) as err:
        validate_app_name(name)
    assert "lowercase letter" in err.value.message
    assert err.value.status == 422


@pytest.mark.parametrize("key", ["1ABC", "A-B", "A B", "", "A=B", "É"])
def test_invalid_config_keys(key: str) -> None:
    with pytest.raises(InvalidConfigKey):
        validate_config_key(key)


def test_platform_owned_keys_are_refused() -> None:
    with pytest.raises(InvalidConfigKey, match="set by the platform"):
        validate_config_key("PORT")


def test_process_types() -> None:
    assert validate_process_type("web") == "web"
    with pytest.raises(InvalidName):
        validate_process_type("Web/../x")

"""The preflight tests: the marker that ties a test to controls/catalogue.yml."""


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "control(id): the test proves that control of controls/catalogue.yml")

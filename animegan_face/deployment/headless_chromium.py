"""Debian's Chromium, headless, driven through its WebDriver (selenium, a development
requirement): for the tests of the rating and web pages and for bench/web.py."""

import pathlib

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def headless_chromium(download_dir, profile_dir, window_size=(1280, 800)):
    """A selenium WebDriver of headless Chromium; downloads go to `download_dir`.

    Raises:
        FileNotFoundError: chromium or chromium-driver is missing (`make test` installs them).
    """
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not pathlib.Path(path).exists()]
    if missing:
        raise FileNotFoundError(f"{', '.join(missing)} missing: `make test` installs Debian's "
                                "chromium and chromium-driver (apt-get install chromium "
                                "chromium-driver)")
    from selenium import webdriver  # pylint: disable=import-outside-toplevel
    from selenium.webdriver.chrome.service import Service  # pylint: disable=import-outside-toplevel

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={profile_dir}",
                     f"--window-size={window_size[0]},{window_size[1]}"):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {
        "download.default_directory": str(download_dir), "download.prompt_for_download": False})
    # The explicit driver path keeps Selenium Manager from trying to download a driver.
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.execute_cdp_cmd("Browser.setDownloadBehavior",
                           {"behavior": "allow", "downloadPath": str(download_dir)})
    return driver

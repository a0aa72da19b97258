"""Opens Debian's Chromium through Debian's chromedriver for SeleniumLibrary,
with the same flags as the Rust connector (connectors/src/legacy/browser.rs),
so both sides of the benchmark drive the same browser the same way."""

import tempfile

from robot.libraries.BuiltIn import BuiltIn
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1024",
    "--lang=sv-SE",
]


class ChromiumLibrary:
    ROBOT_LIBRARY_SCOPE = "GLOBAL"

    def open_chromium(self, url, chromium="/usr/bin/chromium", chromedriver="/usr/bin/chromedriver"):
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for flag in FLAGS:
            options.add_argument(flag)
        self._profile = tempfile.TemporaryDirectory(prefix="rf-profile-")
        options.add_argument("--user-data-dir=" + self._profile.name)
        driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
        selenium = BuiltIn().get_library_instance("SeleniumLibrary")
        selenium.register_driver(driver, "chromium")
        driver.get(url)

"""The playground in headless Chromium (Debian's chromium + chromium-driver, python3-selenium):
load the page, pick an image, set the budget, ask, and see the streamed answer (the API's own
answer to the same request), the timings and the plan drawn with the layers the budget ran."""
import argparse
import base64
import sys

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from serve_helper import Serve


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--image", required=True)
    a = ap.parse_args()
    server = Serve(a.binary, a.model)
    opts = Options()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        opts.add_argument(flag)
    opts.binary_location = "/usr/bin/chromium"
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    try:
        wait = WebDriverWait(driver, 60)
        driver.get(server.url + "/")
        wait.until(lambda d: "AdaLLaVA" in d.find_element(By.ID, "model").text)
        driver.find_element(By.ID, "image-input").send_keys(a.image)
        wait.until(lambda d: d.find_element(By.ID, "preview").get_attribute("src").startswith("data:image"))
        question = driver.find_element(By.ID, "question")
        question.clear()
        question.send_keys("What shape is the object?")
        driver.execute_script(
            "const b = document.getElementById('budget'); b.value = '0.75'; b.dispatchEvent(new Event('input'));")
        assert driver.find_element(By.ID, "budget-value").text == "0.75"
        mt = driver.find_element(By.ID, "max-tokens")
        mt.clear()
        mt.send_keys("8")
        driver.find_element(By.ID, "send").click()
        wait.until(lambda d: d.find_element(By.ID, "status").text.startswith("done"))
        answer = driver.find_element(By.ID, "answer").text

        # The API's own answer to the same request.
        with open(a.image, "rb") as f:
            uri = "data:image/png;base64," + base64.b64encode(f.read()).decode()
        want = server.post({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "What shape is the object?"},
            {"type": "image_url", "image_url": {"url": uri}}]}], "budget": 0.75, "max_tokens": 8})
        assert answer == want["choices"][0]["message"]["content"], (answer, want)
        assert answer.strip(), "empty answer"

        # The plan: every layer the budget ran is drawn filled, the others not.
        ran_layers = len(want["adallava"]["plan"]["executed_layers"])
        ran = driver.find_elements(By.CSS_SELECTOR, "#plan rect.ran")
        cells = driver.find_elements(By.CSS_SELECTOR, "#plan rect")
        heads = driver.execute_script("return shape.heads")
        assert len(ran) == ran_layers * 2 * heads, (len(ran), ran_layers, heads)
        assert len(cells) > len(ran), "skipped layers are drawn too"
        timings = driver.find_element(By.ID, "timings").text
        assert "budget 0.750" in timings and "prefill" in timings, timings
        print("playground: answer %r, %d of %d plan cells ran" % (answer, len(ran), len(cells)))
    finally:
        driver.quit()
        code = server.stop()
    if code != 0:
        print("serve exited with %d" % code)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

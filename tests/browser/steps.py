"""Steps the browser flows share: logging in, uploading a model, uploading and mapping a
table, and starting an audit and watching it finish."""
from __future__ import annotations

from tests.factories import password_of


def log_in(page, user) -> None:
    page.goto("/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", password_of(user))
    page.click("button[type=submit]")
    page.wait_for_url("**/")


def upload_model(page, model_zip, name: str, *, shows: str, fields: dict[str, str] | None = None) -> None:
    """Upload a zipped model folder under `name`, with any other form `fields` (selector ->
    value), and wait for `shows`: the architecture the validation found, or its refusal."""
    page.click("text=Upload model")
    page.fill("input[name=name]", name)
    page.set_input_files("input[name=files]", str(model_zip))
    for selector, value in (fields or {}).items():
        page.fill(selector, value)
    page.click("button:has-text('Upload and validate')")
    page.wait_for_selector(f"text={shows}")


def upload_dataset(page, path, name: str) -> None:
    """Upload a table under `name`; ends on its preview and mapping page."""
    page.click("text=Upload dataset")
    page.fill("input[name=name]", name)
    page.set_input_files("input[name=file]", str(path))
    page.click("button:has-text('Upload')")
    page.wait_for_selector("text=First rows")


def upload_and_map_comments(page, csv, *, name: str = "Comments") -> None:
    """Upload an editors_csv table and map it: text, label ("False" favourable), gender
    with "male" privileged; ends on the page that starts an audit."""
    upload_dataset(page, csv, name)
    # The preview shows user text escaped, never as markup.
    assert page.locator("table.preview b").count() == 0
    page.select_option("select[name=text_column]", "text")
    page.select_option("select[name=label_column]", "label")
    page.fill("input[name=favorable_label]", "False")
    page.check("input[name=protected__gender]")
    page.fill("input[name=privileged__gender]", "male")
    page.click("button:has-text('Save mapping')")
    page.wait_for_selector("text=Start an audit")


def start_audit(page, model: str, dataset: str, *, explain: int | None = None, timeout: int = 400_000) -> None:
    """From the page that starts an audit: choose the model and dataset by name (and how many
    rows to explain), start it, see the progress panel, and wait until it says done."""
    page.select_option("select[name=model]", label=model)
    page.select_option("select[name=dataset]", label=dataset)
    if explain is not None:
        page.fill("input[name=explain]", str(explain))
    page.click("button:has-text('Start audit')")
    page.wait_for_selector("#progress")
    page.wait_for_selector("#done", state="visible", timeout=timeout)

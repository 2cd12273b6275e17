"""Steps the browser flows share: logging in, and uploading and mapping the comments table."""
from __future__ import annotations

from tests.factories import password_of


def log_in(page, user) -> None:
    page.goto("/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", password_of(user))
    page.click("button[type=submit]")
    page.wait_for_url("**/")


def upload_and_map_comments(page, csv, *, name: str = "Comments") -> None:
    """Upload an editors_csv table and map it: text, label ("False" favourable), gender
    with "male" privileged; ends on the page that starts an audit."""
    page.click("text=Upload dataset")
    page.fill("input[name=name]", name)
    page.set_input_files("input[name=file]", str(csv))
    page.click("button:has-text('Upload')")
    page.wait_for_selector("text=First rows")
    # The preview shows user text escaped, never as markup.
    assert page.locator("table.preview b").count() == 0
    page.select_option("select[name=text_column]", "text")
    page.select_option("select[name=label_column]", "label")
    page.fill("input[name=favorable_label]", "False")
    page.check("input[name=protected__gender]")
    page.fill("input[name=privileged__gender]", "male")
    page.click("button:has-text('Save mapping')")
    page.wait_for_selector("text=Start an audit")

"""The customer's survey page in a real browser: on a phone, by keyboard, without JavaScript."""

from __future__ import annotations

from pathlib import Path

import httpx
from playwright.sync_api import Locator, Page, expect

from aftercare.surveys import DEFAULT_SURVEY
from tests.web.conftest import OpenCase

PROMPTS = {question.key: question.prompt for question in DEFAULT_SURVEY.questions}
CSAT_NAMES = {
    1: "1 Very dissatisfied",
    2: "2 Dissatisfied",
    3: "3 Neutral",
    4: "4 Satisfied",
    5: "5 Very satisfied",
}
MIN_TAP_TARGET_PX = 44
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def nps_group(page: Page) -> Locator:
    return page.get_by_role("group", name=PROMPTS["nps"])


def csat_group(page: Page) -> Locator:
    return page.get_by_role("group", name=PROMPTS["csat"])


def comment_box(page: Page) -> Locator:
    return page.get_by_role("textbox", name=PROMPTS["comment"])


def nps_choice(page: Page, score: int) -> Locator:
    return nps_group(page).get_by_role("radio", name=str(score), exact=True)


def csat_choice(page: Page, score: int) -> Locator:
    return csat_group(page).get_by_role("radio", name=CSAT_NAMES[score], exact=True)


def answer(page: Page, nps: int, csat: int, comment: str) -> None:
    nps_choice(page, nps).click()
    csat_choice(page, csat).click()
    comment_box(page).fill(comment)


def send(page: Page) -> int:
    """Press the submit button; return the HTTP status of the form post."""
    with page.expect_response(lambda response: response.request.method == "POST") as posted:
        page.get_by_role("button", name="Send my answers").click()
    return posted.value.status


def stored_answer(api_http: httpx.Client, case_id: int) -> dict[str, object]:
    case = api_http.get(f"/api/v1/cases/{case_id}")
    assert case.status_code == 200, case.text
    response_id = case.json()["response_id"]
    assert response_id is not None, "the case has no response"
    response = api_http.get(f"/api/v1/responses/{response_id}")
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_the_survey_page_fits_a_phone_and_names_every_choice(
    phone_page: Page, open_case: OpenCase
) -> None:
    page = phone_page
    response = page.goto(open_case.survey_url)
    assert response is not None and response.status == 200

    assert page.locator("html").get_attribute("lang") == "en"
    expect(page.get_by_role("heading", level=1)).to_have_text(DEFAULT_SURVEY.title)
    expect(nps_group(page)).to_be_visible()
    expect(csat_group(page)).to_be_visible()
    expect(comment_box(page)).to_be_visible()
    for score in range(0, 11):
        expect(nps_choice(page, score)).to_have_count(1)
    for score in CSAT_NAMES:
        expect(csat_choice(page, score)).to_have_count(1)
    expect(page.get_by_role("radio", name="7")).to_have_count(1)

    page_width, viewport_width = page.evaluate(
        "[document.documentElement.scrollWidth, window.innerWidth]"
    )
    assert viewport_width == 390
    assert page_width <= viewport_width, "the page scrolls sideways"

    labels = page.locator("label.choice")
    expect(labels).to_have_count(16)
    for label in labels.all():
        box = label.bounding_box()
        assert box is not None
        assert box["height"] >= MIN_TAP_TARGET_PX, (label.inner_text(), box)
        assert box["width"] >= MIN_TAP_TARGET_PX, (label.inner_text(), box)


def test_submitting_without_choosing_lists_the_missing_answers_and_keeps_the_comment(
    phone_page: Page, open_case: OpenCase
) -> None:
    page = phone_page
    page.goto(open_case.survey_url)
    comment_box(page).fill("The engineer never called back.")

    assert send(page) == 400

    summary = page.get_by_role("alert")
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()
    expect(summary.get_by_role("heading")).to_have_text("Please check your answers")
    expect(summary.get_by_role("link", name="Choose a number from 0 to 10.")).to_have_attribute(
        "href", "#nps-question"
    )
    expect(
        summary.get_by_role("link", name="Choose how satisfied you are, from 1 to 5.")
    ).to_have_attribute("href", "#csat-question")
    expect(comment_box(page)).to_have_value("The engineer never called back.")
    expect(page).to_have_title(f"Error: {DEFAULT_SURVEY.title}")
    expect(nps_group(page)).to_have_accessible_description("Choose a number from 0 to 10.")


def test_answering_shows_thanks_once_and_stores_the_answer(
    phone_page: Page, open_case: OpenCase, api_http: httpx.Client
) -> None:
    page = phone_page
    page.goto(open_case.survey_url)
    answer(page, nps=3, csat=2, comment="Slow, but polite.")

    assert send(page) == 303
    page.wait_for_url(open_case.survey_url + "/thanks")
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you!")

    reloaded = page.reload()
    assert reloaded is not None and reloaded.request.method == "GET"
    assert reloaded.status == 200
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you!")

    again = page.goto(open_case.survey_url)
    assert again is not None and again.status == 409
    expect(page.get_by_role("heading", level=1)).to_have_text("Already answered")
    expect(page.get_by_role("radio")).to_have_count(0)

    stored = stored_answer(api_http, open_case.case_id)
    assert (stored["nps"], stored["csat"], stored["comment"]) == (3, 2, "Slow, but polite.")


def test_the_page_works_with_javascript_turned_off(
    phone_page_without_javascript: Page, open_case: OpenCase, api_http: httpx.Client
) -> None:
    page = phone_page_without_javascript
    page.goto(open_case.survey_url)
    answer(page, nps=9, csat=5, comment="")

    assert send(page) == 303
    page.wait_for_url(open_case.survey_url + "/thanks")
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you!")
    stored = stored_answer(api_http, open_case.case_id)
    assert (stored["nps"], stored["csat"]) == (9, 5)


def test_a_keyboard_user_tabs_into_the_scale_and_chooses_with_arrow_keys(
    desktop_page: Page, open_case: OpenCase
) -> None:
    page = desktop_page
    page.goto(open_case.survey_url)

    page.keyboard.press("Tab")
    expect(nps_choice(page, 0)).to_be_focused()
    page.keyboard.press("ArrowRight")
    expect(nps_choice(page, 1)).to_be_focused()
    expect(nps_choice(page, 1)).to_be_checked()
    page.keyboard.press("ArrowRight")
    expect(nps_choice(page, 2)).to_be_focused()
    expect(nps_choice(page, 2)).to_be_checked()
    expect(nps_choice(page, 1)).not_to_be_checked()
    # The input is transparent: focus shows as an outline on the visible box next to it.
    focus_ring = page.evaluate(
        "getComputedStyle(document.activeElement.nextElementSibling).outlineStyle"
    )
    assert focus_ring != "none"

    page.keyboard.press("Tab")
    expect(csat_choice(page, 1)).to_be_focused()
    page.keyboard.press("ArrowRight")
    expect(csat_choice(page, 2)).to_be_checked()


def test_an_unknown_link_shows_a_page_for_people_not_json(
    phone_page: Page, live_server: str
) -> None:
    page = phone_page
    response = page.goto(f"{live_server}/s/{'x' * 32}")

    assert response is not None and response.status == 404
    assert response.headers["content-type"].startswith("text/html")
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    expect(page.get_by_text("This survey link is not valid.")).to_be_visible()


def test_a_screenshot_of_the_answered_page_on_a_phone_is_a_png(
    phone_page: Page, open_case: OpenCase, tmp_path: Path
) -> None:
    page = phone_page
    page.goto(open_case.survey_url)
    answer(page, nps=7, csat=4, comment="Quick and friendly, thank you.")
    path = tmp_path / "survey-phone.png"

    page.screenshot(path=path, full_page=True)

    image = path.read_bytes()
    assert image.startswith(PNG_SIGNATURE)
    assert len(image) > 1000

"""An image chat through the official openai Python client: the image reaches the fake
arena.ai through the site's upload steps (generateUploadUrl, a PUT to the presigned URL on
the object store's origin, getSignedUrl), never inline."""

import base64
import json
import ssl
import tempfile
import urllib.request

from openai import OpenAI

TEXT_MODEL = "gemini-2.5-pro"
UPLOAD_HOST = "uploads.fake-arena-storage.test"
# A 1×1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def fake_requests(stack):
    with tempfile.NamedTemporaryFile("w", suffix=".pem") as pem:
        pem.write(stack["fakeCertPem"])
        pem.flush()
        ctx = ssl.create_default_context(cafile=pem.name)
        url = f"https://localhost:{stack['fakePort']}/__fake/requests"
        with urllib.request.urlopen(url, context=ctx, timeout=10) as res:
            return json.load(res)


def test_an_image_chat_goes_through_the_upload_steps(stack):
    client = OpenAI(base_url=stack["baseUrl"], api_key="unused", max_retries=0)
    data_uri = "data:image/png;base64," + base64.b64encode(PNG).decode()
    reply = client.chat.completions.create(
        model=TEXT_MODEL,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "python image upload"},
                    {"type": "image_url", "image_url": {"url": data_uri}},
                ],
            }
        ],
    )
    assert "python image upload" in reply.choices[0].message.content

    reqs = fake_requests(stack)
    puts = [r for r in reqs if r["method"] == "PUT" and r["path"].startswith("/put/")]
    assert len(puts) == 1, [r["path"] for r in reqs]
    assert puts[0]["status"] == 200, puts[0].get("rejection")
    assert puts[0]["content_type"] == "image/png"
    assert puts[0]["body_len"] == len(PNG)
    key = puts[0]["path"][len("/put/"):]

    creates = [
        r
        for r in reqs
        if r["path"] == "/nextjs-api/stream/create-evaluation"
        and "python image upload" in json.dumps(r.get("body"))
    ]
    assert len(creates) == 1
    assert creates[0]["status"] == 200, creates[0].get("rejection")
    attachments = creates[0]["body"]["userMessage"]["experimental_attachments"]
    assert attachments == [
        {
            "name": key,
            "contentType": "image/png",
            "url": f"https://{UPLOAD_HOST}/get/{key}?X-Amz-Signature=fake-get",
        }
    ]
    assert "data:image" not in json.dumps(creates[0]["body"])

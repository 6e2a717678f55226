"""A local server that speaks the Hugging Face Hub's HTTP protocol, as SeaweedFS stands in for S3:
the tests publish to it, and so does `make run` when no HF_ENDPOINT/HF_TOKEN is configured.

The real huggingface_hub client works against it unchanged, with Xet disabled
(`HF_HUB_DISABLE_XET=1`: the local server has no Xet storage, the real Hub does).
"""

from consortium.devhub.server import DevHub

__all__ = ["DevHub"]

"""Remote presets: download from and upload to Kaggle and Hugging Face.

The clients (`kagglehub`, `huggingface_hub`) are optional and imported only
when a remote preset is used.
"""

from densenet_hub.hub.download import download_first_available
from densenet_hub.hub.download import download_preset
from densenet_hub.hub.errors import HubAccessDeniedError
from densenet_hub.hub.errors import HubAuthenticationError
from densenet_hub.hub.errors import HubError
from densenet_hub.hub.errors import HubGatedError
from densenet_hub.hub.errors import HubIntegrityError
from densenet_hub.hub.errors import HubNotFoundError
from densenet_hub.hub.errors import HubUnavailableError
from densenet_hub.hub.errors import MissingHubClientError
from densenet_hub.hub.handles import RemoteHandle
from densenet_hub.hub.handles import is_remote_handle
from densenet_hub.hub.handles import parse_handle
from densenet_hub.hub.upload import upload_preset

"""moto's server (tests/data/moto-venv) with KMS Sign's MessageType DIGEST implemented.

moto 5.2.5 ignores MessageType (its documentation says DIGEST "is not yet implemented") and
hashes the message again, so a digest would be signed twice hashed. AWS's API reference
(KMS Sign): with MessageType DIGEST, "KMS skips the hashing step and signs the Message value"
with the key and SigningAlgorithm; the digest must be as long as the algorithm's hash. This
wrapper adds exactly that to moto's Sign handler (the request still goes through moto's
authentication and authorization first) and then runs moto's server with the arguments given.

usage: moto_server.py -H 127.0.0.1 -p PORT
"""
import base64
import json
import sys

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from moto.kms import responses
from moto.kms.exceptions import ValidationException
from moto.server import main

HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
raw_sign = responses.KmsResponse.sign


def sign(self):
    if self._get_param("MessageType") != "DIGEST":
        return raw_sign(self)
    key_id = self._get_param("KeyId")
    algorithm = self._get_param("SigningAlgorithm")
    self._validate_key_id(key_id)
    backend = self.kms_backend
    key = backend.describe_key(backend.get_key_id(key_id))
    if key.key_usage != "SIGN_VERIFY":
        raise ValidationException(f"key {key.id} has usage {key.key_usage}, not SIGN_VERIFY")
    if algorithm not in key.signing_algorithms:
        raise ValidationException(
            f"Value '{algorithm}' at 'SigningAlgorithm' failed to satisfy constraint: "
            f"Member must satisfy enum value set: {key.signing_algorithms}"
        )
    digest = self._get_param("Message")  # moto has decoded the base64 already
    hash_algorithm = HASHES[algorithm[-3:]]()
    if len(digest) != hash_algorithm.digest_size:
        raise ValidationException(f"Digest is invalid length for algorithm {algorithm}.")
    private = key.private_key.private_key
    if algorithm.startswith("RSASSA_PKCS1_V1_5_"):
        signature = private.sign(digest, padding.PKCS1v15(), Prehashed(hash_algorithm))
    elif algorithm.startswith("ECDSA_"):
        signature = private.sign(digest, ec.ECDSA(Prehashed(hash_algorithm)))
    else:
        raise ValidationException(f"{algorithm} with MessageType DIGEST is not in this test shim")
    return json.dumps({"KeyId": key.arn, "Signature": base64.b64encode(signature).decode(),
                       "SigningAlgorithm": algorithm})


responses.KmsResponse.sign = sign
main(sys.argv[1:])

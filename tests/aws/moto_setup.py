"""Sets up moto's server for tests/aws_kms.rs (run with the moto venv's python).

The server runs with INITIAL_NO_AUTH_ACTION_COUNT=3: the first three requests (creating an IAM
user, its policy and its access key) need no credentials; every later request must carry a valid
SigV4 signature by a known access key. With that key this script creates the test keys (RSA-2048,
P-256, P-384, all SIGN_VERIFY), an alias, and a role for web-identity credentials, and prints
JSON: {"access_key_id", "secret_access_key", "role_arn", "keys": {NAME: {"id", "arn",
"public_key" (base64 DER)}}}.

usage: moto_setup.py ENDPOINT
"""
import base64
import json
import sys

import boto3

endpoint = sys.argv[1]
common = dict(endpoint_url=endpoint, region_name="us-east-1")
boot = dict(aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap", **common)
iam = boto3.client("iam", **boot)
iam.create_user(UserName="signer")
iam.put_user_policy(
    UserName="signer",
    PolicyName="all",
    PolicyDocument=json.dumps(
        {"Version": "2012-10-17",
         "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    ),
)
key = iam.create_access_key(UserName="signer")["AccessKey"]
creds = dict(aws_access_key_id=key["AccessKeyId"],
             aws_secret_access_key=key["SecretAccessKey"], **common)

iam = boto3.client("iam", **creds)
role = iam.create_role(
    RoleName="ci-signer",
    AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17",
         "Statement": [{"Effect": "Allow", "Principal": {"Federated": "ci"},
                        "Action": "sts:AssumeRoleWithWebIdentity"}]}
    ),
)["Role"]
iam.put_role_policy(
    RoleName="ci-signer",
    PolicyName="kms",
    PolicyDocument=json.dumps(
        {"Version": "2012-10-17",
         "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}
    ),
)

kms = boto3.client("kms", **creds)
keys = {}
for name, spec in (("rsa", "RSA_2048"), ("p256", "ECC_NIST_P256"), ("p384", "ECC_NIST_P384")):
    meta = kms.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY",
                          Description=f"authsign test {name}")["KeyMetadata"]
    public = kms.get_public_key(KeyId=meta["KeyId"])["PublicKey"]
    keys[name] = {"id": meta["KeyId"], "arn": meta["Arn"],
                  "public_key": base64.b64encode(public).decode()}
kms.create_alias(AliasName="alias/authsign-rsa", TargetKeyId=keys["rsa"]["id"])
enc = kms.create_key(KeySpec="SYMMETRIC_DEFAULT", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]
keys["encrypt"] = {"id": enc["KeyId"], "arn": enc["Arn"], "public_key": ""}

json.dump({"access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"],
           "role_arn": role["Arn"], "keys": keys}, sys.stdout)

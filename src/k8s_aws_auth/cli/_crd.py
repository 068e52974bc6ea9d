"""``k8s-aws-auth crd``: print the IAMIdentityMapping CustomResourceDefinition (for ``kubectl apply -f -``).

The same definition as upstream's ``deploy/iamidentitymapping.yaml``:
``iamauthenticator.k8s.aws/v1alpha1``, cluster-scoped, ``spec.arn`` and
``spec.username`` required, ``spec.groups``, ``status.canonicalARN`` and
``status.userID``, the ``status`` subresource (the ``CRD`` backend writes
``status.canonicalARN`` through it).
"""

from __future__ import annotations

import argparse

__all__ = ["CRD_MANIFEST", "configure", "run"]

CRD_MANIFEST = """\
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: iamidentitymappings.iamauthenticator.k8s.aws
spec:
  group: iamauthenticator.k8s.aws
  scope: Cluster
  names:
    plural: iamidentitymappings
    singular: iamidentitymapping
    kind: IAMIdentityMapping
    categories:
    - all
  versions:
    - name: v1alpha1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              required:
              - arn
              - username
              properties:
                arn:
                  type: string
                username:
                  type: string
                groups:
                  type: array
                  items:
                    type: string
            status:
              type: object
              properties:
                canonicalARN:
                  type: string
                userID:
                  type: string
      subresources:
        status: {}
"""


def configure(parser: argparse.ArgumentParser) -> None:
    """No flags."""


def run(args: argparse.Namespace) -> int:
    """Print the manifest."""
    print(CRD_MANIFEST, end="")
    return 0

from setuptools import find_packages, setup

setup(
    name="ebn_tf",
    version="0.1.0",
    description="Expert Binary Networks (EBNet) in Keras: training with larq, export with LCE.",
    # The apps are ebn_tf.apps.*; the checkout's train/, convert/, ... folders only let
    # `python -m train` run them there, and are not installed (their names are common).
    packages=find_packages(include=["ebn_tf", "ebn_tf.*"]),
    package_data={"ebn_tf.zoo": ["registry.json"]},
    python_requires=">=3.11,<3.12",
    # The stack of ../shared/design/LCE.md, checked to work together.
    install_requires=[
        "tensorflow==2.21.*",
        "tf-keras==2.21.*",
        "larq==0.14.0",
        "larq-compute-engine==0.16.0",
        "numpy<2",
        "tensorflow-datasets",
        "absl-py",
        # tensorflow-datasets 4.9.10 uses it but declares it only for Python < 3.9.
        "importlib_resources",
        "tensorboard",
        "etils",
        "matplotlib",
        "scikit-learn",
    ],
    # pytest 9.2 renamed the node id that pytest-xdist 3.8's --dist loadgroup rewrites:
    # the groups (tests/conftest.py) would be ignored and each worker would train the
    # shared fixtures again.
    extras_require={"dev": ["pytest<9.2", "pytest-xdist", "ruff==0.17.6"]},
    entry_points={
        "console_scripts": [
            "ebn-train=ebn_tf.apps.train:run",
            "ebn-convert=ebn_tf.apps.convert:run",
            "ebn-zoo=ebn_tf.apps.zoo:run",
            "ebn-analyze=ebn_tf.apps.analyze:run",
            "ebn-search=ebn_tf.apps.search:run",
        ]
    },
)

from setuptools import find_packages, setup

setup(
    name="ebn_tf",
    version="0.1.0",
    description="Expert Binary Networks (EBNet) in Keras: training with larq, export with LCE.",
    packages=find_packages(
        include=["ebn_tf", "ebn_tf.*", "train", "convert", "zoo", "analyze", "search"]
    ),
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
    extras_require={"dev": ["pytest", "ruff==0.17.6"]},
    entry_points={
        "console_scripts": [
            "ebn-train=train.__main__:run",
            "ebn-convert=convert.__main__:run",
            "ebn-zoo=zoo.__main__:run",
            "ebn-analyze=analyze.__main__:run",
            "ebn-search=search.__main__:run",
        ]
    },
)

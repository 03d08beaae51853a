"""The build: the image of the Dockerfile, built once per run (SR210, SR211), and the
docker session the other rooms share (``image.DockerRun``)."""

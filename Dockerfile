FROM node:20-slim AS static
WORKDIR /app
COPY package.json package-lock.json ./
# The pages' libraries only: devDependencies are the tests' (an OpenID Connect provider).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
COPY --from=static /app/node_modules ./node_modules
RUN FANOUT_DATA_DIR=/tmp/build python manage.py collectstatic --no-input
